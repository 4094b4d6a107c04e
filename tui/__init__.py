"""startune's terminal app (Textual). Screens call core through workers; no business logic here."""
