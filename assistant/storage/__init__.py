"""What Toolgate keeps on disk under ``TOOLGATE_VAR_DIR`` and who may read it."""
