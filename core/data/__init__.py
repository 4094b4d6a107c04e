"""Preparing a review dataset for fine-tuning: load, clean, split, sample, format, write."""
