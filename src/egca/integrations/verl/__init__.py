"""EGCA on verl (``pip install 'egca[verl]'``): reward manager, v1 trainers, data converter.

- :mod:`~egca.integrations.verl.credit`: the verl side of the credit stage (settings, credit
  records in ``reward_extra_info``, sequence advantages → verl's ``advantages`` / ``response_mask``);
  needs no verl.
- :mod:`~egca.integrations.verl.data`: egca tasks → verl's parquet format; needs no verl.
- :mod:`~egca.integrations.verl.reward`: the ``egca`` reward manager (runs the tests in egca's sandbox,
  routes and localizes each response on its token ids).
- :mod:`~egca.integrations.verl.trainer`: the ``egca_sync`` / ``egca_colocate_async`` /
  ``egca_separate_async`` v1 trainers (GRPO, then the token-level advantages of the EGCA operator).
- :mod:`~egca.integrations.verl.hook`: the Ray ``worker_process_setup_hook`` that registers both.

This package's ``__init__`` imports nothing, so ``egca.integrations.verl.data`` works without verl.
"""
