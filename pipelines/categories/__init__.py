"""Categorisation: PFC reference data, merchant normalisation, rules, the model and its
evaluation."""
