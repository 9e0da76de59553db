"""Operations plumbing: how the app talks to the servers it depends on."""
