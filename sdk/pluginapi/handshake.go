package pluginapi

import (
	"context"
	"errors"

	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/edged-gateway/edged/sdk/pluginapi/internal/pluginpb"
)

// ProtocolVersion is the version of the contract: go-plugin's handshake
// refuses a service built against another one. It changes only on an
// incompatible change to pluginapi.proto (see the package doc).
const ProtocolVersion = 1

// MagicCookieKey and MagicCookieValue mark a process as started by edged:
// a service binary run by hand refuses to serve. They are not a secret.
const (
	MagicCookieKey   = "EDGED_PLUGIN"
	MagicCookieValue = "edged-service-d5b3c1e0-v1"
)

// MaxBatch is the most readings one message carries: Send and Emit split
// larger batches, each part spending one credit.
const MaxBatch = 1024

// Windows (in batches) each side grants the other.
const (
	// DefaultEmitWindow is how many emitted batches the host accepts before
	// the service must wait for the host to finish one.
	DefaultEmitWindow = 64
	// ServiceWindow is how many batches the service accepts ahead of its
	// Process calls.
	ServiceWindow = 16
	// MaxWindow bounds either window.
	MaxWindow = 1024
)

// maxMessageBytes bounds one gRPC message either way (go-plugin's default
// is 2 GiB).
const maxMessageBytes = 4 << 20

// pluginName is the one plugin a service process dispenses.
const pluginName = "service"

// handshake is go-plugin's handshake for edged services.
var handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   MagicCookieKey,
	MagicCookieValue: MagicCookieValue,
}

// grpcPlugin adapts the contract to go-plugin. It is unexported so that no
// go-plugin type appears in this package's API: hosts use Launch, services
// use Serve.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	server pluginpb.ServiceServer // set in the service process only
}

// GRPCServer registers the service's gRPC server (plugin process side).
func (p *grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.server == nil {
		return errors.New("pluginapi: no service to serve")
	}
	pluginpb.RegisterServiceServer(s, p.server)
	return nil
}

// GRPCClient returns the generated client (host side).
func (p *grpcPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return pluginpb.NewServiceClient(c), nil
}
