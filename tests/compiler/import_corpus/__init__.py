"""Classic architectures written the way people write them in PyTorch, kept tiny.

Each module defines ``build()`` returning the model and ``INPUTS``, the shapes
of one batch of example inputs (batch first); integer inputs are token ids
below ``VOCAB``. ``tests/compiler/test_import.py`` imports every one.
"""

MODELS = (
    "resnet",
    "vgg",
    "inception",
    "mobilenet",
    "densenet",
    "convnext",
    "vit",
    "lstm_classifier",
    "unet",
    "gru_sequence",
    "lenet",
)
