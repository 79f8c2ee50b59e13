"""Dataset card templates (shipped inside the package as hf_select.card_templates)."""
