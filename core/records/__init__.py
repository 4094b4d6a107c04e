"""The shapes a fine-tuning file is made of: the chat and completion records, the examples read back
from them, and the bounded JSONL reader. The bottom layer of what handles data: preparation
(core.data), validation (core.validation) and the local backend (core.backend) all stand on it, and
it imports none of them."""
