"""Report stage: self-contained HTML pages that show where the credit went."""
