"""Stage 3: what every file is made from; pure, reads nothing from the output folder."""
