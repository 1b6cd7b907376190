"""Bronze and silver: the assets every declared source gets (assets.py), built by the FileSource
component (clawdata/components) from the declarations under defs/sources/."""
