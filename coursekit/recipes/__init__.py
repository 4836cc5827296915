"""Recipes: everything around a model that is not the model itself.

A model file in :mod:`coursekit.models` holds what the paper's figure holds (modules, loss,
sampling) in plain torch. Its recipe here holds the rest: preparing the data, the training
set-up on :func:`coursekit.train.train`, fine-tuning (its options in one dataclass), saving and
loading checkpoints (:mod:`coursekit.checkpoint`) and cards, the generation helpers the
notebooks and the command line use, and the command's own flags
(``add_train_arguments``/``train_command``, ``add_sample_arguments``/``sample_command``).
"""
