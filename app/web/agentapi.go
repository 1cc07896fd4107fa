package web

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/latchkey/latchkey/app/agent"
	"github.com/latchkey/latchkey/app/agent/wire"
	"github.com/latchkey/latchkey/app/apperr"
)

// The agent API (wire package): JSON, no session, no CSRF; every call but
// enrolment carries the agent's bearer credential.
type agentAPI struct{ s *Server }

const (
	agentBodyLimit   = 64 << 10  // enrol, poll, result
	agentUploadLimit = 256 << 20 // an import's users (compressed or not)
	agentUnzipLimit  = 1 << 30   // an import's users once decompressed
)

// agentJSON answers an error the way the agent reads it.
func agentError(c echo.Context, err error) error {
	status := http.StatusInternalServerError
	msg := "internal error"
	switch {
	case errors.Is(err, agent.ErrUnauthorized):
		status, msg = http.StatusUnauthorized, "unauthorized"
	default:
		switch apperr.CodeOf(err) {
		case apperr.NotFound:
			status, msg = http.StatusNotFound, apperr.MessageOf(err)
		case apperr.Invalid:
			status, msg = http.StatusBadRequest, apperr.MessageOf(err)
		case apperr.Conflict:
			status, msg = http.StatusConflict, apperr.MessageOf(err)
		case apperr.Forbidden:
			status, msg = http.StatusForbidden, apperr.MessageOf(err)
		}
	}
	if status == http.StatusInternalServerError {
		if c.Request().Context().Err() != nil {
			return nil // the agent went away mid-request (its poll was cut short)
		}
		c.Logger().Error(err)
	}
	return c.JSON(status, wire.ErrorResponse{Error: msg})
}

// requireAgent authenticates the bearer credential.
func (h *agentAPI) requireAgent(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		cred, ok := strings.CutPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Bearer ")
		if !ok {
			return agentError(c, agent.ErrUnauthorized)
		}
		ag, err := h.s.Agents.Authenticate(c.Request().Context(), strings.TrimSpace(cred))
		if err != nil {
			return agentError(c, err)
		}
		c.Set("agent", ag)
		return next(c)
	}
}

func currentAgent(c echo.Context) *agent.Agent { return c.Get("agent").(*agent.Agent) }

func decodeAgentJSON(c echo.Context, v any) error {
	r := http.MaxBytesReader(c.Response(), c.Request().Body, agentBodyLimit)
	if err := json.NewDecoder(r).Decode(v); err != nil {
		return apperr.New(apperr.Invalid, "bad request body: %v", err)
	}
	return nil
}

func (h *agentAPI) enroll(c echo.Context) error {
	var req wire.EnrollRequest
	if err := decodeAgentJSON(c, &req); err != nil {
		return agentError(c, err)
	}
	resp, err := h.s.Agents.Enroll(c.Request().Context(), req, c.RealIP())
	if err != nil {
		return agentError(c, err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, resp)
}

func (h *agentAPI) poll(c echo.Context) error {
	var req wire.PollRequest
	if err := decodeAgentJSON(c, &req); err != nil {
		return agentError(c, err)
	}
	wait := wire.Wait
	if ms, err := strconv.Atoi(c.QueryParam("wait_ms")); err == nil && ms >= 0 && time.Duration(ms)*time.Millisecond < wait {
		wait = time.Duration(ms) * time.Millisecond
	}
	resp, err := h.s.Agents.Poll(c.Request().Context(), currentAgent(c), req, wait)
	if err != nil {
		return agentError(c, err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	if resp.Config == nil && resp.Task == nil {
		return c.NoContent(http.StatusNoContent)
	}
	return c.JSON(http.StatusOK, resp)
}

func (h *agentAPI) uploadUsers(c echo.Context) error {
	req := c.Request()
	// Large imports may take longer than the server's default read timeout.
	_ = http.NewResponseController(c.Response().Writer).SetReadDeadline(time.Now().Add(10 * time.Minute))
	var body io.Reader = http.MaxBytesReader(c.Response(), req.Body, agentUploadLimit)
	if strings.EqualFold(req.Header.Get(echo.HeaderContentEncoding), "gzip") {
		zr, err := gzip.NewReader(body)
		if err != nil {
			return agentError(c, apperr.New(apperr.Invalid, "bad gzip body: %v", err))
		}
		defer zr.Close()
		body = io.LimitReader(zr, agentUnzipLimit)
	}
	n, err := h.s.Agents.ReceiveUsers(req.Context(), currentAgent(c), c.Param("id"), body)
	if err != nil {
		return agentError(c, err)
	}
	return c.JSON(http.StatusOK, map[string]int{"users": n})
}

func (h *agentAPI) result(c echo.Context) error {
	var res wire.Result
	if err := decodeAgentJSON(c, &res); err != nil {
		return agentError(c, err)
	}
	if err := h.s.Agents.Finish(c.Request().Context(), currentAgent(c), c.Param("id"), res); err != nil {
		return agentError(c, err)
	}
	return c.JSON(http.StatusOK, map[string]bool{"recorded": true})
}
