"""`cmr cmrt`: the company's own CMRT, filled into the official RMI template."""
