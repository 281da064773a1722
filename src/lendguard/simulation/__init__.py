"""Simulated borrowers driving the real platform: today a seeded sample book (the demo)."""
