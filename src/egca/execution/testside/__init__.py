"""The test side of the boundary: the process that runs test code, compares and decides.

It is a fresh fork of the worker per program, confined like the candidate's process, and it never
runs a line of the candidate's code: every call a test makes into the program is a message to the
candidate's process (:mod:`egca.execution.candidate`), and every value that comes back is rebuilt
from builtin types only.
"""
