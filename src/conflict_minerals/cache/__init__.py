"""The user's cache folder: its place and size bound (folder), and the render cache of `build` (render)."""
