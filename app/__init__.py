"""What people run: the melab command, the experimenter's console, the participant's screens."""
