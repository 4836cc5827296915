"""coursekit: the helper library of the hands-on course on musical audio generation.

The notebooks in ``notebooks/`` import from here whatever they reuse; each module holds one
concept and is meant to be read:

- :mod:`coursekit.profiles`  sizes for the three budgets (smoke / default / full)
- :mod:`coursekit.device`    which device computes (CUDA, MPS or the CPU), mixed precision
- :mod:`coursekit.paths`     where data, samples and checkpoints live
- :mod:`coursekit.audio`     load/save, resampling, mu-law, STFT, mel, Griffin-Lim
- :mod:`coursekit.display`   players and plots for Jupyter and Colab
- :mod:`coursekit.data`      the real dataset formats and their offline mini versions
- :mod:`coursekit.models`    one page a model: modules, loss, sampling (plain torch)
- :mod:`coursekit.recipes`   one recipe a model: data, training, generation, its commands
- :mod:`coursekit.train`     the one training loop
- :mod:`coursekit.checkpoint` the one checkpoint layout and card schema
- :mod:`coursekit.eval`      FAD, embeddings, the note classifier, the listening test
- :mod:`coursekit.exercises` exercise markers and checks; ``same`` checks a mechanism written
  in a notebook against the library
- :mod:`coursekit.quiz`      the self-check quiz at the end of a chapter
"""

__version__ = "0.1.0"

from .profiles import get_profile  # noqa: E402,F401
from .device import choose_device  # noqa: E402,F401
from .exercises.checks import same  # noqa: E402,F401
from .quiz import Question, quiz  # noqa: E402,F401
