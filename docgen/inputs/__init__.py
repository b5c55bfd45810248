"""From what a user asked for to settled jobs: project config, templates, prompts, manifests."""
