package wire

import "strconv"

func itoa(i int) string { return strconv.Itoa(i) }

// ExchangeType is the Exchange Type of the IKE header (RFC 7296 3.1).
type ExchangeType uint8

// Exchange types (RFC 7296 3.1; IKE_INTERMEDIATE from RFC 9242,
// IKE_FOLLOWUP_KE from RFC 9370).
const (
	ExchangeIKESAInit       ExchangeType = 34 // IKE_SA_INIT
	ExchangeIKEAuth         ExchangeType = 35 // IKE_AUTH
	ExchangeCreateChildSA   ExchangeType = 36 // CREATE_CHILD_SA
	ExchangeInformational   ExchangeType = 37 // INFORMATIONAL
	ExchangeIKEIntermediate ExchangeType = 43 // IKE_INTERMEDIATE
	ExchangeIKEFollowupKE   ExchangeType = 44 // IKE_FOLLOWUP_KE
)

func (e ExchangeType) String() string {
	switch e {
	case ExchangeIKESAInit:
		return "IKE_SA_INIT"
	case ExchangeIKEAuth:
		return "IKE_AUTH"
	case ExchangeCreateChildSA:
		return "CREATE_CHILD_SA"
	case ExchangeInformational:
		return "INFORMATIONAL"
	case ExchangeIKEIntermediate:
		return "IKE_INTERMEDIATE"
	case ExchangeIKEFollowupKE:
		return "IKE_FOLLOWUP_KE"
	}
	return "EXCHANGE(" + strconv.Itoa(int(e)) + ")"
}

// Flags are the flag bits of the IKE header (RFC 7296 3.1). The other bits
// are reserved: sent as zero and ignored on receipt.
type Flags uint8

// Header flags (RFC 7296 3.1).
const (
	FlagInitiator Flags = 0x08 // I: sent by the original initiator of the IKE SA
	FlagVersion   Flags = 0x10 // V: the sender can speak a higher major version
	FlagResponse  Flags = 0x20 // R: this message is a response

	flagsKnown = FlagInitiator | FlagVersion | FlagResponse
)

// Has reports whether all bits of g are set in f.
func (f Flags) Has(g Flags) bool { return f&g == g }

func (f Flags) String() string {
	s := ""
	add := func(n string) {
		if s != "" {
			s += "|"
		}
		s += n
	}
	if f.Has(FlagInitiator) {
		add("I")
	}
	if f.Has(FlagVersion) {
		add("V")
	}
	if f.Has(FlagResponse) {
		add("R")
	}
	if r := f &^ flagsKnown; r != 0 {
		add("0x" + strconv.FormatUint(uint64(r), 16))
	}
	if s == "" {
		return "0"
	}
	return s
}

// PayloadType is a Next Payload value (RFC 7296 3.2; SKF from RFC 7383 2.5).
type PayloadType uint8

// Payload types.
const (
	PayloadNone     PayloadType = 0  // No Next Payload
	PayloadSA       PayloadType = 33 // Security Association
	PayloadKE       PayloadType = 34 // Key Exchange
	PayloadIDi      PayloadType = 35 // Identification - Initiator
	PayloadIDr      PayloadType = 36 // Identification - Responder
	PayloadCERT     PayloadType = 37 // Certificate
	PayloadCERTREQ  PayloadType = 38 // Certificate Request
	PayloadAUTH     PayloadType = 39 // Authentication
	PayloadNonce    PayloadType = 40 // Nonce (Ni, Nr)
	PayloadNotify   PayloadType = 41 // Notify (N)
	PayloadDelete   PayloadType = 42 // Delete (D)
	PayloadVendorID PayloadType = 43 // Vendor ID (V)
	PayloadTSi      PayloadType = 44 // Traffic Selector - Initiator
	PayloadTSr      PayloadType = 45 // Traffic Selector - Responder
	PayloadSK       PayloadType = 46 // Encrypted and Authenticated
	PayloadCP       PayloadType = 47 // Configuration
	PayloadEAP      PayloadType = 48 // Extensible Authentication
	PayloadSKF      PayloadType = 53 // Encrypted and Authenticated Fragment (RFC 7383)
)

// known reports whether this package decodes payloads of type t. Payloads of
// other types are kept as Unknown when their critical bit is clear.
func (t PayloadType) known() bool {
	return (t >= PayloadSA && t <= PayloadEAP) || t == PayloadSKF
}

func (t PayloadType) String() string {
	switch t {
	case PayloadNone:
		return "NONE"
	case PayloadSA:
		return "SA"
	case PayloadKE:
		return "KE"
	case PayloadIDi:
		return "IDi"
	case PayloadIDr:
		return "IDr"
	case PayloadCERT:
		return "CERT"
	case PayloadCERTREQ:
		return "CERTREQ"
	case PayloadAUTH:
		return "AUTH"
	case PayloadNonce:
		return "No"
	case PayloadNotify:
		return "N"
	case PayloadDelete:
		return "D"
	case PayloadVendorID:
		return "V"
	case PayloadTSi:
		return "TSi"
	case PayloadTSr:
		return "TSr"
	case PayloadSK:
		return "SK"
	case PayloadCP:
		return "CP"
	case PayloadEAP:
		return "EAP"
	case PayloadSKF:
		return "SKF"
	}
	return "PAYLOAD(" + strconv.Itoa(int(t)) + ")"
}

// NotifyType is a Notify Message Type (RFC 7296 3.10.1). Types below 16384
// report errors; the others carry status.
type NotifyType uint16

// Error types (RFC 7296 3.10.1).
const (
	NotifyUnsupportedCriticalPayload NotifyType = 1
	NotifyInvalidIKESPI              NotifyType = 4
	NotifyInvalidMajorVersion        NotifyType = 5
	NotifyInvalidSyntax              NotifyType = 7
	NotifyInvalidMessageID           NotifyType = 9
	NotifyInvalidSPI                 NotifyType = 11
	NotifyNoProposalChosen           NotifyType = 14
	NotifyInvalidKEPayload           NotifyType = 17
	NotifyAuthenticationFailed       NotifyType = 24
	NotifySinglePairRequired         NotifyType = 34
	NotifyNoAdditionalSAs            NotifyType = 35
	NotifyInternalAddressFailure     NotifyType = 36
	NotifyFailedCPRequired           NotifyType = 37
	NotifyTSUnacceptable             NotifyType = 38
	NotifyInvalidSelectors           NotifyType = 39
	NotifyUnacceptableAddresses      NotifyType = 40 // RFC 4555
	NotifyUnexpectedNATDetected      NotifyType = 41 // RFC 4555
	NotifyTemporaryFailure           NotifyType = 43
	NotifyChildSANotFound            NotifyType = 44
)

// Status types (RFC 7296 3.10.1 and the RFCs cited).
const (
	NotifyInitialContact                NotifyType = 16384
	NotifySetWindowSize                 NotifyType = 16385
	NotifyAdditionalTSPossible          NotifyType = 16386
	NotifyIPCompSupported               NotifyType = 16387
	NotifyNATDetectionSourceIP          NotifyType = 16388
	NotifyNATDetectionDestinationIP     NotifyType = 16389
	NotifyCookie                        NotifyType = 16390
	NotifyUseTransportMode              NotifyType = 16391
	NotifyHTTPCertLookupSupported       NotifyType = 16392
	NotifyRekeySA                       NotifyType = 16393
	NotifyESPTFCPaddingNotSupported     NotifyType = 16394
	NotifyNonFirstFragmentsAlso         NotifyType = 16395
	NotifyMOBIKESupported               NotifyType = 16396 // RFC 4555
	NotifyAdditionalIP4Address          NotifyType = 16397 // RFC 4555
	NotifyAdditionalIP6Address          NotifyType = 16398 // RFC 4555
	NotifyNoAdditionalAddresses         NotifyType = 16399 // RFC 4555
	NotifyUpdateSAAddresses             NotifyType = 16400 // RFC 4555
	NotifyCookie2                       NotifyType = 16401 // RFC 4555
	NotifyNoNATsAllowed                 NotifyType = 16402 // RFC 4555
	NotifyAuthLifetime                  NotifyType = 16403 // RFC 4478
	NotifyMultipleAuthSupported         NotifyType = 16404 // RFC 4739
	NotifyAnotherAuthFollows            NotifyType = 16405 // RFC 4739
	NotifyRedirectSupported             NotifyType = 16406 // RFC 5685
	NotifyRedirect                      NotifyType = 16407 // RFC 5685
	NotifyRedirectedFrom                NotifyType = 16408 // RFC 5685
	NotifyEAPOnlyAuthentication         NotifyType = 16417 // RFC 5998
	NotifyChildlessIKEv2Supported       NotifyType = 16418 // RFC 6023
	NotifyIKEv2FragmentationSupported   NotifyType = 16430 // RFC 7383
	NotifySignatureHashAlgorithms       NotifyType = 16431 // RFC 7427
	NotifyIntermediateExchangeSupported NotifyType = 16438 // RFC 9242
)

// IsError reports whether t is an error type (RFC 7296 3.10.1: 0-16383).
func (t NotifyType) IsError() bool { return t < 16384 }

var notifyNames = map[NotifyType]string{
	NotifyUnsupportedCriticalPayload:    "UNSUPPORTED_CRITICAL_PAYLOAD",
	NotifyInvalidIKESPI:                 "INVALID_IKE_SPI",
	NotifyInvalidMajorVersion:           "INVALID_MAJOR_VERSION",
	NotifyInvalidSyntax:                 "INVALID_SYNTAX",
	NotifyInvalidMessageID:              "INVALID_MESSAGE_ID",
	NotifyInvalidSPI:                    "INVALID_SPI",
	NotifyNoProposalChosen:              "NO_PROPOSAL_CHOSEN",
	NotifyInvalidKEPayload:              "INVALID_KE_PAYLOAD",
	NotifyAuthenticationFailed:          "AUTHENTICATION_FAILED",
	NotifySinglePairRequired:            "SINGLE_PAIR_REQUIRED",
	NotifyNoAdditionalSAs:               "NO_ADDITIONAL_SAS",
	NotifyInternalAddressFailure:        "INTERNAL_ADDRESS_FAILURE",
	NotifyFailedCPRequired:              "FAILED_CP_REQUIRED",
	NotifyTSUnacceptable:                "TS_UNACCEPTABLE",
	NotifyInvalidSelectors:              "INVALID_SELECTORS",
	NotifyUnacceptableAddresses:         "UNACCEPTABLE_ADDRESSES",
	NotifyUnexpectedNATDetected:         "UNEXPECTED_NAT_DETECTED",
	NotifyTemporaryFailure:              "TEMPORARY_FAILURE",
	NotifyChildSANotFound:               "CHILD_SA_NOT_FOUND",
	NotifyInitialContact:                "INITIAL_CONTACT",
	NotifySetWindowSize:                 "SET_WINDOW_SIZE",
	NotifyAdditionalTSPossible:          "ADDITIONAL_TS_POSSIBLE",
	NotifyIPCompSupported:               "IPCOMP_SUPPORTED",
	NotifyNATDetectionSourceIP:          "NAT_DETECTION_SOURCE_IP",
	NotifyNATDetectionDestinationIP:     "NAT_DETECTION_DESTINATION_IP",
	NotifyCookie:                        "COOKIE",
	NotifyUseTransportMode:              "USE_TRANSPORT_MODE",
	NotifyHTTPCertLookupSupported:       "HTTP_CERT_LOOKUP_SUPPORTED",
	NotifyRekeySA:                       "REKEY_SA",
	NotifyESPTFCPaddingNotSupported:     "ESP_TFC_PADDING_NOT_SUPPORTED",
	NotifyNonFirstFragmentsAlso:         "NON_FIRST_FRAGMENTS_ALSO",
	NotifyMOBIKESupported:               "MOBIKE_SUPPORTED",
	NotifyAdditionalIP4Address:          "ADDITIONAL_IP4_ADDRESS",
	NotifyAdditionalIP6Address:          "ADDITIONAL_IP6_ADDRESS",
	NotifyNoAdditionalAddresses:         "NO_ADDITIONAL_ADDRESSES",
	NotifyUpdateSAAddresses:             "UPDATE_SA_ADDRESSES",
	NotifyCookie2:                       "COOKIE2",
	NotifyNoNATsAllowed:                 "NO_NATS_ALLOWED",
	NotifyAuthLifetime:                  "AUTH_LIFETIME",
	NotifyMultipleAuthSupported:         "MULTIPLE_AUTH_SUPPORTED",
	NotifyAnotherAuthFollows:            "ANOTHER_AUTH_FOLLOWS",
	NotifyRedirectSupported:             "REDIRECT_SUPPORTED",
	NotifyRedirect:                      "REDIRECT",
	NotifyRedirectedFrom:                "REDIRECTED_FROM",
	NotifyEAPOnlyAuthentication:         "EAP_ONLY_AUTHENTICATION",
	NotifyChildlessIKEv2Supported:       "CHILDLESS_IKEV2_SUPPORTED",
	NotifyIKEv2FragmentationSupported:   "IKEV2_FRAGMENTATION_SUPPORTED",
	NotifySignatureHashAlgorithms:       "SIGNATURE_HASH_ALGORITHMS",
	NotifyIntermediateExchangeSupported: "INTERMEDIATE_EXCHANGE_SUPPORTED",
}

func (t NotifyType) String() string {
	if s, ok := notifyNames[t]; ok {
		return s
	}
	return "NOTIFY(" + strconv.Itoa(int(t)) + ")"
}

// IDType is the ID Type of an Identification payload (RFC 7296 3.5; ID_NULL
// from RFC 7619).
type IDType uint8

// Identification types.
const (
	IDIPv4Addr   IDType = 1  // ID_IPV4_ADDR: 4 octets
	IDFQDN       IDType = 2  // ID_FQDN
	IDRFC822Addr IDType = 3  // ID_RFC822_ADDR
	IDIPv6Addr   IDType = 5  // ID_IPV6_ADDR: 16 octets
	IDDerASN1DN  IDType = 9  // ID_DER_ASN1_DN
	IDDerASN1GN  IDType = 10 // ID_DER_ASN1_GN
	IDKeyID      IDType = 11 // ID_KEY_ID
	IDFCName     IDType = 12 // ID_FC_NAME (RFC 4595)
	IDNull       IDType = 13 // ID_NULL (RFC 7619)
)

func (t IDType) String() string {
	switch t {
	case IDIPv4Addr:
		return "ID_IPV4_ADDR"
	case IDFQDN:
		return "ID_FQDN"
	case IDRFC822Addr:
		return "ID_RFC822_ADDR"
	case IDIPv6Addr:
		return "ID_IPV6_ADDR"
	case IDDerASN1DN:
		return "ID_DER_ASN1_DN"
	case IDDerASN1GN:
		return "ID_DER_ASN1_GN"
	case IDKeyID:
		return "ID_KEY_ID"
	case IDFCName:
		return "ID_FC_NAME"
	case IDNull:
		return "ID_NULL"
	}
	return "ID(" + strconv.Itoa(int(t)) + ")"
}

// AuthMethod is the Auth Method of an Authentication payload (RFC 7296 3.8;
// ECDSA from RFC 4754, NULL from RFC 7619, Digital Signature from RFC 7427).
type AuthMethod uint8

// Authentication methods.
const (
	AuthRSA              AuthMethod = 1  // RSA Digital Signature (PKCS #1 v1.5)
	AuthPSK              AuthMethod = 2  // Shared Key Message Integrity Code
	AuthDSS              AuthMethod = 3  // DSS Digital Signature
	AuthECDSA256         AuthMethod = 9  // ECDSA with SHA-256 on the P-256 curve
	AuthECDSA384         AuthMethod = 10 // ECDSA with SHA-384 on the P-384 curve
	AuthECDSA521         AuthMethod = 11 // ECDSA with SHA-512 on the P-521 curve
	AuthNull             AuthMethod = 13 // NULL Authentication
	AuthDigitalSignature AuthMethod = 14 // Digital Signature (RFC 7427)
)

func (m AuthMethod) String() string {
	switch m {
	case AuthRSA:
		return "RSA_DIGITAL_SIGNATURE"
	case AuthPSK:
		return "SHARED_KEY_MESSAGE_INTEGRITY_CODE"
	case AuthDSS:
		return "DSS_DIGITAL_SIGNATURE"
	case AuthECDSA256:
		return "ECDSA_SHA256_P256"
	case AuthECDSA384:
		return "ECDSA_SHA384_P384"
	case AuthECDSA521:
		return "ECDSA_SHA512_P521"
	case AuthNull:
		return "NULL_AUTHENTICATION"
	case AuthDigitalSignature:
		return "DIGITAL_SIGNATURE"
	}
	return "AUTH(" + strconv.Itoa(int(m)) + ")"
}

// TSType is a Traffic Selector Type (RFC 7296 3.13.1).
type TSType uint8

// Traffic selector types.
const (
	TSIPv4AddrRange TSType = 7 // TS_IPV4_ADDR_RANGE
	TSIPv6AddrRange TSType = 8 // TS_IPV6_ADDR_RANGE
)

func (t TSType) String() string {
	switch t {
	case TSIPv4AddrRange:
		return "TS_IPV4_ADDR_RANGE"
	case TSIPv6AddrRange:
		return "TS_IPV6_ADDR_RANGE"
	}
	return "TS(" + strconv.Itoa(int(t)) + ")"
}

// CfgType is the CFG Type of a Configuration payload (RFC 7296 3.15).
type CfgType uint8

// Configuration payload types.
const (
	CfgRequest CfgType = 1 // CFG_REQUEST
	CfgReply   CfgType = 2 // CFG_REPLY
	CfgSet     CfgType = 3 // CFG_SET
	CfgAck     CfgType = 4 // CFG_ACK
)

func (t CfgType) String() string {
	switch t {
	case CfgRequest:
		return "CFG_REQUEST"
	case CfgReply:
		return "CFG_REPLY"
	case CfgSet:
		return "CFG_SET"
	case CfgAck:
		return "CFG_ACK"
	}
	return "CFG(" + strconv.Itoa(int(t)) + ")"
}

// CPAttrType is a Configuration Attribute Type (RFC 7296 3.15.1; the RFCs
// cited for later ones).
type CPAttrType uint16

// Configuration attribute types.
const (
	CPInternalIP4Address  CPAttrType = 1  // INTERNAL_IP4_ADDRESS: 0 or 4 octets
	CPInternalIP4Netmask  CPAttrType = 2  // INTERNAL_IP4_NETMASK: 0 or 4 octets
	CPInternalIP4DNS      CPAttrType = 3  // INTERNAL_IP4_DNS: 0 or 4 octets
	CPInternalIP4NBNS     CPAttrType = 4  // INTERNAL_IP4_NBNS: 0 or 4 octets
	CPInternalIP4DHCP     CPAttrType = 6  // INTERNAL_IP4_DHCP: 0 or 4 octets
	CPApplicationVersion  CPAttrType = 7  // APPLICATION_VERSION
	CPInternalIP6Address  CPAttrType = 8  // INTERNAL_IP6_ADDRESS: 0 or 17 octets
	CPInternalIP6DNS      CPAttrType = 10 // INTERNAL_IP6_DNS: 0 or 16 octets
	CPInternalIP6DHCP     CPAttrType = 12 // INTERNAL_IP6_DHCP: 0 or 16 octets
	CPInternalIP4Subnet   CPAttrType = 13 // INTERNAL_IP4_SUBNET: 0 or 8 octets
	CPSupportedAttributes CPAttrType = 14 // SUPPORTED_ATTRIBUTES
	CPInternalIP6Subnet   CPAttrType = 15 // INTERNAL_IP6_SUBNET: 0 or 17 octets
	CPInternalDNSDomain   CPAttrType = 25 // INTERNAL_DNS_DOMAIN (RFC 8598)
	CPInternalDNSSECTA    CPAttrType = 26 // INTERNAL_DNSSEC_TA (RFC 8598)
)

func (t CPAttrType) String() string {
	switch t {
	case CPInternalIP4Address:
		return "INTERNAL_IP4_ADDRESS"
	case CPInternalIP4Netmask:
		return "INTERNAL_IP4_NETMASK"
	case CPInternalIP4DNS:
		return "INTERNAL_IP4_DNS"
	case CPInternalIP4NBNS:
		return "INTERNAL_IP4_NBNS"
	case CPInternalIP4DHCP:
		return "INTERNAL_IP4_DHCP"
	case CPApplicationVersion:
		return "APPLICATION_VERSION"
	case CPInternalIP6Address:
		return "INTERNAL_IP6_ADDRESS"
	case CPInternalIP6DNS:
		return "INTERNAL_IP6_DNS"
	case CPInternalIP6DHCP:
		return "INTERNAL_IP6_DHCP"
	case CPInternalIP4Subnet:
		return "INTERNAL_IP4_SUBNET"
	case CPSupportedAttributes:
		return "SUPPORTED_ATTRIBUTES"
	case CPInternalIP6Subnet:
		return "INTERNAL_IP6_SUBNET"
	case CPInternalDNSDomain:
		return "INTERNAL_DNS_DOMAIN"
	case CPInternalDNSSECTA:
		return "INTERNAL_DNSSEC_TA"
	}
	return "CP_ATTR(" + strconv.Itoa(int(t)) + ")"
}

// CertEncoding is the Cert Encoding of a Certificate or Certificate Request
// payload (RFC 7296 3.6; Raw Public Key from RFC 7670).
type CertEncoding uint8

// Certificate encodings.
const (
	CertPKCS7X509         CertEncoding = 1  // PKCS #7 wrapped X.509 certificate
	CertPGP               CertEncoding = 2  // PGP Certificate
	CertDNSSignedKey      CertEncoding = 3  // DNS Signed Key
	CertX509Signature     CertEncoding = 4  // X.509 Certificate - Signature
	CertKerberos          CertEncoding = 6  // Kerberos Token
	CertCRL               CertEncoding = 7  // Certificate Revocation List (CRL)
	CertARL               CertEncoding = 8  // Authority Revocation List (ARL)
	CertSPKI              CertEncoding = 9  // SPKI Certificate
	CertX509Attribute     CertEncoding = 10 // X.509 Certificate - Attribute
	CertRawRSAKey         CertEncoding = 11 // Raw RSA Key (deprecated)
	CertHashURLX509       CertEncoding = 12 // Hash and URL of X.509 certificate
	CertHashURLX509Bundle CertEncoding = 13 // Hash and URL of X.509 bundle
	CertOCSPContent       CertEncoding = 14 // OCSP Content (RFC 4806)
	CertRawPublicKey      CertEncoding = 15 // Raw Public Key (RFC 7670)
)

func (e CertEncoding) String() string {
	switch e {
	case CertPKCS7X509:
		return "PKCS7_WRAPPED_X509"
	case CertPGP:
		return "PGP"
	case CertDNSSignedKey:
		return "DNS_SIGNED_KEY"
	case CertX509Signature:
		return "X509_SIGNATURE"
	case CertKerberos:
		return "KERBEROS_TOKEN"
	case CertCRL:
		return "CRL"
	case CertARL:
		return "ARL"
	case CertSPKI:
		return "SPKI"
	case CertX509Attribute:
		return "X509_ATTRIBUTE"
	case CertRawRSAKey:
		return "RAW_RSA_KEY"
	case CertHashURLX509:
		return "HASH_URL_X509"
	case CertHashURLX509Bundle:
		return "HASH_URL_X509_BUNDLE"
	case CertOCSPContent:
		return "OCSP_CONTENT"
	case CertRawPublicKey:
		return "RAW_PUBLIC_KEY"
	}
	return "CERT(" + strconv.Itoa(int(e)) + ")"
}

// ProtocolID identifies the protocol of a proposal, notification or
// deletion (RFC 7296 3.3.1).
type ProtocolID uint8

// Protocol identifiers.
const (
	ProtocolIKE ProtocolID = 1
	ProtocolAH  ProtocolID = 2
	ProtocolESP ProtocolID = 3
)

func (p ProtocolID) String() string {
	switch p {
	case 0:
		return "NONE"
	case ProtocolIKE:
		return "IKE"
	case ProtocolAH:
		return "AH"
	case ProtocolESP:
		return "ESP"
	}
	return "PROTO(" + strconv.Itoa(int(p)) + ")"
}

// TransformType is a Transform Type (RFC 7296 3.3.2; ADDKE from RFC 9370).
type TransformType uint8

// Transform types.
const (
	TransformENCR   TransformType = 1 // Encryption Algorithm
	TransformPRF    TransformType = 2 // Pseudorandom Function
	TransformINTEG  TransformType = 3 // Integrity Algorithm
	TransformDH     TransformType = 4 // Diffie-Hellman Group (Key Exchange Method)
	TransformESN    TransformType = 5 // Extended Sequence Numbers
	TransformADDKE1 TransformType = 6 // Additional Key Exchange 1 (RFC 9370)
	TransformADDKE7 TransformType = 12
	TransformKE                   = TransformDH // RFC 9370 name
)

func (t TransformType) String() string {
	switch {
	case t == TransformENCR:
		return "ENCR"
	case t == TransformPRF:
		return "PRF"
	case t == TransformINTEG:
		return "INTEG"
	case t == TransformDH:
		return "KE"
	case t == TransformESN:
		return "ESN"
	case t >= TransformADDKE1 && t <= TransformADDKE7:
		return "ADDKE" + strconv.Itoa(int(t-TransformADDKE1)+1)
	}
	return "TRANSFORM(" + strconv.Itoa(int(t)) + ")"
}

// AttrKeyLength is the Key Length transform attribute (RFC 7296 3.3.5), the
// only one RFC 7296 defines; it is always in TV format.
const AttrKeyLength uint16 = 14
