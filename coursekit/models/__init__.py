"""The course's models, one page a model: what the paper's figure holds and nothing else.

Each file has the modules, the loss and the sampling of one model family in plain torch, with
the shapes in comments; it imports nothing of coursekit outside this folder, opens no file and
reads no profile. Data, training, checkpoints and commands are in :mod:`coursekit.recipes`.

- :mod:`~coursekit.models.rnn`          SampleRNN-lite over mu-law samples (chapter 02)
- :mod:`~coursekit.models.gan`          GANSynth-lite over log-magnitude and frequency (chapter 03)
- :mod:`~coursekit.models.codec`        a convolutional audio codec (chapter 04), quantized by
- :mod:`~coursekit.models.rvq`          residual vector quantization
- :mod:`~coursekit.models.stft_discriminator`  the STFT critic of an adversarially trained codec
- :mod:`~coursekit.models.patterns`     token layouts: flatten, parallel, delay (chapter 05)
- :mod:`~coursekit.models.transformer`  a decoder-only Transformer over codec tokens (chapter 05)
- :mod:`~coursekit.models.diffusion`    latent diffusion over codec latents (chapter 06)
"""
