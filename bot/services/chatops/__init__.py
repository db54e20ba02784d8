"""Chat-ops: run the commands of one PR comment (imperative shell around bot.core.chatops)."""
