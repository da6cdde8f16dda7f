"""The candidate side of the boundary: the process that runs the program, and its fork server.

Nothing here decides a verdict. The candidate's process loads the program once and answers call
requests with plain values; it never holds a test's expected output (see
:mod:`egca.execution.testside` for the side that compares and decides).
"""
