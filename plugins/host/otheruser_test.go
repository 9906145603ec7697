package host_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// The variables that make the test binary TestOtherUser's intruder: the
// plugin's socket to try, and whether to try to remove and replace it too.
const (
	intruderEnv     = "NETABASE_HOST_TEST_INTRUDER"
	intruderMoveEnv = "NETABASE_HOST_TEST_INTRUDER_MOVE"
)

// intruder, when intruderEnv names a socket, tries what another local
// program could do to a plugin's socket, prints one line per attempt
// ("what: ok" or "what: permission denied" or "what: <other error>") and
// exits.
func intruder() {
	sock := os.Getenv(intruderEnv)
	if sock == "" {
		return
	}
	dir := filepath.Dir(sock)
	report := func(what string, err error) {
		switch {
		case err == nil:
			fmt.Printf("%s: ok\n", what)
		case errors.Is(err, fs.ErrPermission):
			fmt.Printf("%s: permission denied\n", what)
		default:
			fmt.Printf("%s: %v\n", what, err)
		}
	}
	c, err := net.DialTimeout("unix", sock, 5*time.Second)
	if err == nil {
		c.Close()
	}
	report("dial", err)
	if err == nil {
		// The socket is reachable: a gRPC call must still need the
		// host's client certificate.
		report("grpc without TLS", call(sock, insecure.NewCredentials()))
		cert, cerr := ownCert()
		if cerr != nil {
			report("making a certificate", cerr)
		} else {
			report("grpc with another certificate", call(sock, credentials.NewTLS(&tls.Config{
				Certificates:       []tls.Certificate{cert},
				InsecureSkipVerify: true, // whatever the plugin shows: the test is of what it accepts
				ServerName:         "localhost",
			})))
		}
	}
	if os.Getenv(intruderMoveEnv) == "1" {
		_, err = os.ReadDir(dir)
		report("list", err)
		report("remove", os.Remove(sock))
		// A file of the intruder's own, renamed over the socket.
		own, err := os.CreateTemp("", "netabase-intruder-")
		if err == nil {
			own.Close()
			err = os.Rename(own.Name(), sock)
			_ = os.Remove(own.Name())
		}
		report("replace", err)
		l, err := net.Listen("unix", filepath.Join(dir, "intruder.sock"))
		if err == nil {
			l.Close()
		}
		report("listen beside", err)
	}
	os.Exit(0)
}

// call makes go-plugin's health check on sock with creds and returns its
// error, or an error saying that the plugin answered.
func call(sock string, creds credentials.TransportCredentials) error {
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(creds))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := grpc_health_v1.NewHealthClient(conn).Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: "plugin"}); err != nil {
		return fmt.Errorf("refused (%s)", status.Code(err))
	}
	return nil
}

// ownCert makes a self-signed client certificate that is not the host's.
func ownCert() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "localhost"},
		DNSNames:              []string{"localhost"},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
