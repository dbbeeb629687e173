package lab

import (
	"context"
	"crypto/x509"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/tkgcert/tkgcert/internal/pki"
)

// workloadClient is the lab's own identity in a cluster's workload API: a
// client certificate from the cluster CA in system:masters. It does not
// verify the serving certificate's validity period, because the lab must
// keep managing clusters whose certificates expired on purpose; users'
// clients (the kubeconfig secret) verify as usual.
func (c *cluster) workloadClient() (kubernetes.Interface, error) {
	now := c.lab.now()
	id, err := pki.NewLeaf(c.cas.CA, pki.LeafSpec{
		CommonName:   "tkgcert-lab",
		Organization: []string{"system:masters"},
		Usages:       []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, pki.ValidFor(now.Add(-time.Hour), 10*365*24*time.Hour), pki.ECDSAP256)
	if err != nil {
		return nil, err
	}
	key, err := id.KeyPEM()
	if err != nil {
		return nil, err
	}
	cfg := &rest.Config{
		Host: "https://" + c.endpoint(),
		TLSClientConfig: rest.TLSClientConfig{
			Insecure: true, // see the function comment
			CertData: id.CertPEM(),
			KeyData:  key,
		},
		Timeout: 30 * time.Second,
		QPS:     100,
		Burst:   200,
	}
	return kubernetes.NewForConfig(cfg)
}

// bootstrapWorkload writes what kubeadm init leaves in a cluster and what
// `kubeadm certs check-expiration` reads back: the kubeadm-config and
// kubelet-config ConfigMaps and the kubeadm:cluster-admins binding.
// kubeadm-config records the version of the kubeadm the nodes run: kubeadm
// refuses a configuration older than its minimum control-plane version, and
// a cluster whose nodes run that kubeadm would record it.
func (c *cluster) bootstrapWorkload(ctx context.Context, cs kubernetes.Interface) error {
	// The node API servers come up together; wait for the endpoint to answer.
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := cs.Discovery().ServerVersion()
		return err == nil, nil
	})
	if err != nil {
		return fmt.Errorf("cluster %s: workload API at %s did not answer: %w", c.key(), c.endpoint(), err)
	}
	clusterConfig := fmt.Sprintf(`apiServer: {}
apiVersion: kubeadm.k8s.io/v1beta4
caCertificateValidityPeriod: 87600h0m0s
certificateValidityPeriod: 8760h0m0s
certificatesDir: /etc/kubernetes/pki
clusterName: %s
controlPlaneEndpoint: %s
controllerManager: {}
dns: {}
encryptionAlgorithm: RSA-2048
etcd:
  local:
    dataDir: /var/lib/etcd
imageRepository: projects.registry.vmware.com/tkg
kind: ClusterConfiguration
kubernetesVersion: %s
networking:
  dnsDomain: cluster.local
  podSubnet: 192.168.0.0/16
  serviceSubnet: 10.96.0.0/12
proxy: {}
scheduler: {}
`, c.spec.Name, c.endpoint(), c.lab.kubeadmVersion)
	kubeletConfig := `apiVersion: kubelet.config.k8s.io/v1beta1
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: /etc/kubernetes/pki/ca.crt
authorization:
  mode: Webhook
cgroupDriver: systemd
clusterDNS:
- 10.96.0.10
clusterDomain: cluster.local
kind: KubeletConfiguration
rotateCertificates: true
staticPodPath: /etc/kubernetes/manifests
`
	objs := []func() error{
		func() error {
			_, err := cs.CoreV1().ServiceAccounts("kube-system").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := cs.CoreV1().ConfigMaps("kube-system").Create(ctx, &corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{Name: "kubeadm-config"},
				Data:       map[string]string{"ClusterConfiguration": clusterConfig},
			}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := cs.CoreV1().ConfigMaps("kube-system").Create(ctx, &corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{Name: "kubelet-config"},
				Data:       map[string]string{"kubelet": kubeletConfig},
			}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: "kubeadm:cluster-admins"},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
				Subjects:   []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "kubeadm:cluster-admins"}},
			}, metav1.CreateOptions{})
			return err
		},
	}
	for _, create := range objs {
		if err := create(); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("cluster %s: bootstrapping the workload API: %w", c.key(), err)
		}
	}
	return nil
}

// registerNode creates the Node object (and, on control-plane nodes, the
// API server's mirror pod) as the kubelet would.
func (c *cluster) registerNode(ctx context.Context, cs kubernetes.Interface, n *node) error {
	labels := map[string]string{
		"kubernetes.io/hostname": n.name,
		"kubernetes.io/os":       "linux",
		"kubernetes.io/arch":     "amd64",
	}
	if n.role == controlPlane {
		// The seed's era labels control-plane nodes with both roles.
		labels["node-role.kubernetes.io/control-plane"] = ""
		labels["node-role.kubernetes.io/master"] = ""
	}
	obj := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:   n.name,
			Labels: labels,
			Annotations: map[string]string{
				"kubeadm.alpha.kubernetes.io/cri-socket":                 "unix:///run/containerd/containerd.sock",
				"cluster.x-k8s.io/cluster-name":                          c.spec.Name,
				"cluster.x-k8s.io/cluster-namespace":                     c.spec.Namespace,
				"cluster.x-k8s.io/machine":                               n.name,
				"node.alpha.kubernetes.io/ttl":                           "0",
				"volumes.kubernetes.io/controller-managed-attach-detach": "true",
			},
		},
		Spec: corev1.NodeSpec{ProviderID: c.providerID(n.name)},
	}
	if n.role == controlPlane {
		obj.Spec.Taints = []corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}}
	}
	created, err := cs.CoreV1().Nodes().Create(ctx, obj, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("registering node %s: %w", n.name, err)
	}
	n.uid = created.UID
	now := metav1.NewTime(c.lab.now())
	created.Status = corev1.NodeStatus{
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: n.ip.String()}, {Type: corev1.NodeHostName, Address: n.name}},
		Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "kubelet is posting ready status", LastHeartbeatTime: now, LastTransitionTime: now},
			{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory", LastHeartbeatTime: now, LastTransitionTime: now},
			{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasNoDiskPressure", LastHeartbeatTime: now, LastTransitionTime: now},
			{Type: corev1.NodePIDPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientPID", LastHeartbeatTime: now, LastTransitionTime: now},
		},
		NodeInfo: corev1.NodeSystemInfo{
			MachineID: vsphereUUID(), SystemUUID: vsphereUUID(), BootID: vsphereUUID(),
			KernelVersion: "4.19.225-3.ph3", OSImage: "VMware Photon OS/Linux", ContainerRuntimeVersion: "containerd://1.4.11",
			KubeletVersion: c.lab.o.KubernetesVersion, KubeProxyVersion: c.lab.o.KubernetesVersion,
			OperatingSystem: "linux", Architecture: "amd64",
		},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 10250}},
	}
	if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("setting the status of node %s: %w", n.name, err)
	}
	if n.role != controlPlane {
		return nil
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      "kube-apiserver-" + n.name,
			Namespace: "kube-system",
			Labels:    map[string]string{"component": "kube-apiserver", "tier": "control-plane"},
			Annotations: map[string]string{
				"kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint": n.apiServerAddr(),
				"kubernetes.io/config.mirror":                                     "lab",
				"kubernetes.io/config.source":                                     "file",
			},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: n.name, UID: n.uid}},
		},
		Spec: corev1.PodSpec{
			NodeName:          n.name,
			HostNetwork:       true,
			PriorityClassName: "system-node-critical",
			Containers: []corev1.Container{{
				Name:    "kube-apiserver",
				Image:   "projects.registry.vmware.com/tkg/kube-apiserver:" + c.lab.o.KubernetesVersion,
				Command: []string{"kube-apiserver", "--advertise-address=" + n.ip.String(), "--secure-port=6443"},
			}},
		},
	}
	p, err := cs.CoreV1().Pods("kube-system").Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("creating the mirror pod of node %s: %w", n.name, err)
	}
	p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: n.ip.String(), HostIP: n.ip.String(), StartTime: &now,
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now}}}
	if _, err := cs.CoreV1().Pods("kube-system").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("setting the status of the mirror pod of node %s: %w", n.name, err)
	}
	return nil
}

// unregisterNode removes a deleted machine's Node object and mirror pod.
func (c *cluster) unregisterNode(ctx context.Context, cs kubernetes.Interface, n *node) error {
	if n.role == controlPlane {
		err := cs.CoreV1().Pods("kube-system").Delete(ctx, "kube-apiserver-"+n.name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	err := cs.CoreV1().Nodes().Delete(ctx, n.name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("removing node %s: %w", n.name, err)
	}
	return nil
}
