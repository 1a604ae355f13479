"""The one range of random seeds nnstudio accepts, wherever a seed is given: the
project's training settings, ``nnstudio train --seed``, the written train.py.

The narrowest consumer sets it: scikit-learn's ``random_state`` (the circles
and moons data sets) takes seeds below 2**32; NumPy and torch take more.
"""

SEED_MIN = 0
SEED_MAX = 2**32 - 1
