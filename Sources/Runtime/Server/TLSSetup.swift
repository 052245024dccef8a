#if TLS
import NIOSSL

/// TLS from the configured PEM files: HTTPS for clients, and mutual TLS between nodes —
/// each side presents its certificate and must show one signed by the cluster's
/// certificate authority (host names are not checked between nodes: the authority is
/// the cluster's membership list).
enum TLSSetup {
    static func load(_ files: ServerConfiguration.TLSFiles) throws(ConfigurationError)
        -> (certificates: [NIOSSLCertificate], key: NIOSSLPrivateKey) {
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMFile(files.certificate)
        } catch {
            throw .invalid("cannot read the TLS certificate \(files.certificate): \(error); give a PEM certificate file")
        }
        guard !certificates.isEmpty else { throw .invalid("the TLS certificate file \(files.certificate) holds no certificate") }
        do {
            return (certificates, try NIOSSLPrivateKey(file: files.key, format: .pem))
        } catch {
            throw .invalid("cannot read the TLS private key \(files.key): \(error); give an unencrypted PEM key file")
        }
    }

    static func https(_ files: ServerConfiguration.TLSFiles) throws(ConfigurationError) -> TLSConfiguration {
        let (certificates, key) = try load(files)
        return TLSConfiguration.makeServerConfiguration(certificateChain: certificates.map { .certificate($0) }, privateKey: .privateKey(key))
    }

    static func peers(_ files: ServerConfiguration.TLSFiles) throws(ConfigurationError) -> PeerTLS {
        let (certificates, key) = try load(files)
        let chain = certificates.map { NIOSSLCertificateSource.certificate($0) }
        let roots: NIOSSLTrustRoots = files.certificateAuthority.map { .file($0) } ?? .default
        var server = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
        server.certificateVerification = .noHostnameVerification
        server.trustRoots = roots
        var client = TLSConfiguration.makeClientConfiguration()
        client.certificateChain = chain
        client.privateKey = .privateKey(key)
        client.certificateVerification = .noHostnameVerification
        client.trustRoots = roots
        do {
            return PeerTLS(server: try NIOSSLContext(configuration: server), client: try NIOSSLContext(configuration: client))
        } catch {
            throw .invalid("cannot set up TLS between nodes: \(error); check the certificate, key and certificate authority files")
        }
    }
}
#endif
