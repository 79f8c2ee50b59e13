"""Shipped recipes (inside the package as hf_select.shipped_recipes): run one with `hf-select run NAME`."""
