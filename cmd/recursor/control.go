package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/recursor-dns/recursor/control"
)

func init() { extraCommands = append(extraCommands, newControlCommand) }

// DefaultControlSocket is where `recursor control` looks when neither
// --control-socket nor --config says: the state directory of the systemd
// unit in docs/.
const DefaultControlSocket = "/var/lib/recursor/control.sock"

func newControlCommand() *cobra.Command {
	var socket, config string
	cmd := &cobra.Command{
		Use:   "control [--control-socket PATH | --config FILE] COMMAND [ARG...]",
		Short: "Send a command to a running server over its control socket",
		Long: `Control sends one command to a running recursor serve over its control socket
(--control-socket of serve, mode 0600: run it as the server's user or root),
prints the reply and exits 0, or prints one line saying why and exits 1.

Commands:
` + helpText(),
		Example: `  recursor control --config /etc/recursor.toml stats
  recursor control flush www.example.com AAAA
  recursor control lookup example.com
  recursor control dump-cache /tmp/cache.txt`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, err := controlPath(cmd, socket, config)
			if err != nil {
				return err
			}
			return control.Run(contextOf(cmd), path, args, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&socket, "control-socket", DefaultControlSocket, "the server's control socket")
	cmd.Flags().StringVar(&config, "config", "", "read control-socket from the [server] section of this config file")
	cmd.Flags().SetInterspersed(false) // flags after the command are its arguments
	return cmd
}

func helpText() string {
	var b strings.Builder
	control.Help(&b)
	return b.String()
}

// controlPath is --control-socket, or the config file's when --config is
// given and --control-socket is not.
func controlPath(cmd *cobra.Command, socket, config string) (string, error) {
	if config == "" || cmd.Flags().Changed("control-socket") {
		return socket, nil
	}
	data, err := os.ReadFile(config)
	if err != nil {
		return "", fmt.Errorf("--config: %w", err)
	}
	settings, err := parseConfig(string(data))
	if err != nil {
		return "", fmt.Errorf("%s:%w", config, err)
	}
	for _, s := range settings {
		if s.key == "server.control-socket" && len(s.values) == 1 && s.values[0] != "" {
			return s.values[0], nil
		}
	}
	return "", fmt.Errorf("%s sets no control-socket in [server]: the server has no control socket", config)
}
