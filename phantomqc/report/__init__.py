"""Report layer: JSON, HTML and figures. The only package that imports matplotlib."""
