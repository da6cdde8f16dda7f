"""egca: Execution-Grounded Credit Assignment for RL of code language models.

Data flow, one subpackage per stage::

    tasks -> execution -> (trace -> credit) -> train / eval -> report
"""

__version__ = "0.1.0"
