package server

// placeholder until the session-surface login stages land
type loginAttempts struct{}

func newLoginAttempts() *loginAttempts { return &loginAttempts{} }
