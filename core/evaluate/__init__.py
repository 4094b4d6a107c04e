"""Scoring models on a test split: answers, labels, metrics, reports."""
