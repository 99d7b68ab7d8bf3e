"""Data sets as in-memory tensors (SPEC §6): one module per source and one table of sources.

``imageset`` (the ImageSet every source returns, normalisation, class-balanced sampling),
``images`` (image files and ImageFolder trees), ``cifar`` (CIFAR pickles, restricted
unpickler), ``shapes`` (the synthetic set with masks), ``sources`` (the table: ``open_dataset``,
``open_run_splits``). Import from the module that defines a name.
"""
