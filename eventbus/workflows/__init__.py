"""Amazon States Language workflows: definitions, their evaluation and their execution."""
