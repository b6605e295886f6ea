"""gesture-edge: the Raspberry Pi runtime (camera -> int8 features -> streaming recurrent step -> actions).

Nothing in this package imports TensorFlow, Keras or `convert` (tests/test_isolation.py proves it).
"""

__version__ = "0.1.0"
