"""hf_select: curate reasoning-distillation data with Hugging Face datasets."""

__version__ = "0.1.0"
