"""One router per resource: health, the household form, runs, results, models."""
