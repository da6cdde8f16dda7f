"""A learning testbed that runs on two CPU cores: generated Python function tasks, a pretraining
corpus of correct and realistically wrong solutions, and a small causal LM pretrained on it.

Stages: :mod:`~egca.testbed.blocks` (predicates and maps) → :mod:`~egca.testbed.templates`
(program skeletons with their correct styles and bug variants) → :mod:`~egca.testbed.family`
(tasks, the split by combination, JSONL files) → :mod:`~egca.testbed.corpus` (verified solutions)
→ :mod:`~egca.testbed.policy` (tokenizer and pretrained model, cached). See ``docs/testbed.md``.
"""
