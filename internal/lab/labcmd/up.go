package labcmd

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/tkgcert/tkgcert/internal/capi"
	"github.com/tkgcert/tkgcert/internal/lab"
)

type upOptions struct {
	genericiooptions.IOStreams
	stateDir, binDir, capiVersion string
	clusters                      []string
	generate, cpReplicas, workers int
	provisionDelay                time.Duration
	sshPort, addressBlock         int
	verbose                       bool
	vsphere                       lab.VSphere

	parsed lab.Options
}

func newUpCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &upOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start the lab in the foreground until interrupted",
		Long: `Start the lab and keep it running until SIGINT or SIGTERM (or ` + "`tkgcert-lab down`" + `).
When the world is ready it writes <state-dir>/supervisor.kubeconfig (context
kubernetes-admin@kubernetes) and then <state-dir>/ready.

Scenarios for --cluster NAMESPACE/NAME[:SCENARIO][,light] (light: no workload API server,
as the --generate clusters):
  healthy               leaf certificates expire in about 300 days (default)
  expiring              leaf certificates expire in about 20 days
  expired               leaf certificates expired yesterday; the cluster's API rejects clients
  kubelet-rotation-off  a worker's kubelet has rotateCertificates: false
  stuck                 new machines never leave Provisioning
  paused                the KubeadmControlPlane is paused

The Supervisor side (vCenter's trust domain) takes the /24 after the clusters' in the
address block (127.B.N.0/24 for N clusters): a vCenter on .2:443, Supervisor control-plane
VMs from .10 (6443) and ESXi hosts from .20 (443 and the spherelet's 10250), each serving a
certificate from the lab's VMCA, whose root is written to <state-dir>/vmca-root.crt; the
Supervisor API holds their Node objects, and <state-dir>/vsphere-endpoints.json lists them.
The control-plane VMs accept root over SSH with <state-dir>/supervisor-ssh.key.
--vmca-expiring and --foreign-ca take the lab's names vcenter, supervisor-N and esxi-N.`,
		Example: `  # The seed's world: tkg-cluster-ns/tkg-cluster, 3 control-plane nodes, 1 worker
  sudo tkgcert-lab up

  # Current Cluster API (v1beta2) with several scenarios
  tkgcert-lab up --capi-version v1beta2 \
    --cluster tkg-cluster-ns/tkg-cluster --cluster prod/old:expired --cluster prod/soon:expiring

  # A fleet for scale runs: 100 light clusters (no workload API server) and fast rollouts
  tkgcert-lab up --generate 100 --provision-delay 0

  # The Supervisor side with an expiring ESXi certificate and a vCenter from a foreign CA
  tkgcert-lab up --vmca-expiring esxi-1 --foreign-ca vcenter

  # Then, from another shell
  export KUBECONFIG=.tkgcert-lab/supervisor.kubeconfig
  kubectl get clusters,kcp,machines -A`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			return o.Run(cmd)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.stateDir, "state-dir", ".tkgcert-lab", "Directory for the lab's files (node disks, logs, supervisor.kubeconfig, ready)")
	f.StringVar(&o.binDir, "bin-dir", "bin", "Directory searched first for etcd, kube-apiserver and kubeadm (then PATH)")
	f.StringVar(&o.capiVersion, "capi-version", string(capi.V1Beta1), "Cluster API version the Supervisor serves: v1beta1 (TKG) or v1beta2")
	f.StringArrayVar(&o.clusters, "cluster", nil, "Cluster to create as NAMESPACE/NAME[:SCENARIO][,light], repeatable (default tkg-cluster-ns/tkg-cluster:healthy)")
	f.IntVar(&o.generate, "generate", 0, "Also create N light clusters gen-NNN in namespace tkg-fleet (no workload API server; SSH and TLS stay real)")
	f.IntVar(&o.cpReplicas, "control-plane-replicas", 3, "Control-plane machines per cluster")
	f.IntVar(&o.workers, "workers", 1, "Worker machines per cluster")
	f.DurationVar(&o.provisionDelay, "provision-delay", lab.DefaultProvisionDelay, "How long a new machine takes to come up (0 for fast tests)")
	f.IntVar(&o.sshPort, "ssh-port", 22, "SSH port of every node")
	f.IntVar(&o.addressBlock, "address-block", lab.DefaultAddressBlock, "Second octet of the first cluster's loopback block 127.B.0.0/16 (labs side by side need distinct blocks)")
	f.IntVar(&o.vsphere.ControlPlaneNodes, "supervisor-nodes", lab.DefaultVSphere.ControlPlaneNodes, "Supervisor control-plane VMs (Nodes in the Supervisor API, VMCA certificates on 6443)")
	f.IntVar(&o.vsphere.ESXiHosts, "esxi-hosts", lab.DefaultVSphere.ESXiHosts, "ESXi hosts serving vSphere Pods (Nodes with role agent, VMCA certificates on 443 and 10250)")
	f.BoolVar(&o.vsphere.VCenter, "vcenter", lab.DefaultVSphere.VCenter, "A vCenter endpoint on port 443 with a VMCA certificate")
	f.StringArrayVar(&o.vsphere.Expiring, "vmca-expiring", nil, "Supervisor-side machine whose VMCA certificate expires in about 20 days: vcenter, supervisor-N or esxi-N; repeatable")
	f.StringArrayVar(&o.vsphere.ForeignCA, "foreign-ca", nil, "Supervisor-side machine presenting a certificate from a CA outside both trust domains; repeatable")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "Log every machine and node event to stderr")
	return cmd
}

func (o *upOptions) Complete() error {
	v, err := capi.ParseAPIVersion(o.capiVersion)
	if err != nil {
		return err
	}
	var specs []lab.ClusterSpec
	for _, s := range o.clusters {
		spec, err := lab.ParseClusterSpec(s)
		if err != nil {
			return err
		}
		specs = append(specs, spec)
	}
	if len(specs) == 0 {
		specs = []lab.ClusterSpec{lab.DefaultCluster}
	}
	stateDir, err := filepath.Abs(o.stateDir)
	if err != nil {
		return err
	}
	level := slog.LevelWarn
	if o.verbose {
		level = slog.LevelInfo
	}
	o.parsed = lab.Options{
		StateDir:             stateDir,
		BinDir:               o.binDir,
		CAPIVersion:          v,
		Clusters:             specs,
		Generate:             o.generate,
		ControlPlaneReplicas: o.cpReplicas,
		Workers:              o.workers,
		ProvisionDelay:       o.provisionDelay,
		SSHPort:              o.sshPort,
		AddressBlock:         o.addressBlock,
		VSphere:              &o.vsphere,
		Logger:               slog.New(slog.NewTextHandler(o.ErrOut, &slog.HandlerOptions{Level: level})),
	}
	return nil
}

func (o *upOptions) Run(cmd *cobra.Command) error {
	ctx := cmd.Context()
	if os.Geteuid() != 0 {
		return fmt.Errorf("the lab needs root: it binds per-node loopback addresses and uses private mount namespaces for node shells")
	}
	lock, err := lab.LockStateDir(o.parsed.StateDir)
	if err != nil {
		return err
	}
	defer lock.Release()
	start := time.Now()
	fmt.Fprintf(o.ErrOut, "Starting the lab in %s (Cluster API %s, %d clusters) ...\n",
		o.parsed.StateDir, o.parsed.CAPIVersion, len(o.parsed.Clusters)+o.parsed.Generate)
	l, err := lab.Up(ctx, o.parsed)
	if err != nil {
		return fmt.Errorf("starting the lab: %w", err)
	}
	defer l.Close()
	kubeconfig, err := l.Kubeconfig()
	if err != nil {
		return err
	}
	if err := lock.Ready(kubeconfig); err != nil {
		return err
	}
	kc := filepath.Join(o.parsed.StateDir, lab.KubeconfigFile)
	first := o.parsed.Clusters[0]
	fmt.Fprintf(o.Out, `Lab ready in %s (a simulated Supervisor; no vSphere involved).

  export KUBECONFIG=%s
  kubectl get clusters -A
  kubectl get kcp,machines -n %s
  tkgcert clusters -A
  tkgcert check -n %s %s

Stop it with Ctrl-C or: tkgcert-lab down --state-dir %s
`, time.Since(start).Round(100*time.Millisecond), kc, first.Namespace, first.Namespace, first.Name, o.stateDir)
	if eps := l.VSphereEndpoints(); len(eps) > 0 {
		fmt.Fprintf(o.Out, "\nSupervisor side (a lab VMCA; endpoints in %s):\n", filepath.Join(o.parsed.StateDir, lab.VSphereEndpointsFile))
		vc := ""
		for _, e := range eps {
			fmt.Fprintf(o.Out, "  %-14s %-26s %-34s %s\n", e.ID, e.Role, e.Name, strings.Join(e.Addresses, " "))
			if e.Role == "vcenter" {
				vc, _, _ = strings.Cut(e.Addresses[0], ":")
				vc = " --vcenter " + vc
			}
		}
		fmt.Fprintf(o.Out, "\n  tkgcert supervisor check%s --vmca-root %s\n", vc, filepath.Join(o.parsed.StateDir, lab.VMCARootFile))
	}
	<-ctx.Done()
	fmt.Fprintln(o.ErrOut, "Stopping the lab ...")
	return nil
}
