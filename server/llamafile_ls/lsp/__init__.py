"""What features share to talk to the editor: applying edits, progress, answers that are
not edits. Not features themselves: they subscribe to nothing."""
