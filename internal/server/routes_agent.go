package server

import (
	"github.com/deskhub/deskhub/internal/agent"
	"github.com/deskhub/deskhub/internal/httpapi"
)

// agentPrefix is where the broker serves each session's agent.
const agentPrefix = "/spawner/{session_id}"

// agentRoutes is the agent surface (Spawner seed) as the broker serves it; the broker checks that the
// caller owns the session before proxying (proxying is not built yet: the routes answer 501).
func (s *Server) agentRoutes() []httpapi.Route { return agent.Routes(agentPrefix, httpapi.User, nil) }
