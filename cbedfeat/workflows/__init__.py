"""What the commands do: train a model, evaluate a bundle, predict new stacks."""
