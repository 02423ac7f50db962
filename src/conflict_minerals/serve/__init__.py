"""`cmr serve`: a live preview of the filing in the browser."""
