"""What the chat page shows beyond the stored rows: approver edits, streamed arguments."""
