"""The run folder: its file names (`names`), its typed records (`records`), how it is written
(`write`) and read back (`read`, with the columnar engine in `engine`)."""
