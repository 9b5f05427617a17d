"""The finance service's WSDL 1.1 (document/literal, wrapped), served at ``/finance?wsdl``."""

from __future__ import annotations

__all__ = ["NAMESPACE", "SOAP_ENV", "wsdl"]

NAMESPACE = "http://finance.yunqi.example.com/invoice/v1"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"

_INVOICE_FIELDS = (
    ("invoiceNo", "xs:string", ""),
    ("invoiceType", "xs:string", ""),
    ("status", "tns:InvoiceStatus", ""),
    ("issueDate", "xs:date", ""),
    ("orderNo", "xs:string", ""),
    ("customerMobile", "xs:string", ""),
    ("buyerName", "xs:string", ""),
    ("buyerTaxNo", "xs:string", ' minOccurs="0"'),
    ("sellerName", "xs:string", ""),
    ("sellerTaxNo", "xs:string", ""),
    ("amount", "xs:decimal", ""),
    ("taxRate", "xs:decimal", ""),
    ("taxAmount", "xs:decimal", ""),
    ("totalAmount", "xs:decimal", ""),
    ("currency", "xs:string", ""),
)
INVOICE_FIELDS = tuple(name for name, _, _ in _INVOICE_FIELDS)

_TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<wsdl:definitions name="InvoiceService" targetNamespace="{ns}"
    xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
    xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:xs="http://www.w3.org/2001/XMLSchema"
    xmlns:tns="{ns}">
  <wsdl:documentation>云栖优选 财务系统 发票查询服务 (demo)</wsdl:documentation>
  <wsdl:types>
    <xs:schema targetNamespace="{ns}" elementFormDefault="qualified">
      <xs:simpleType name="InvoiceStatus">
        <xs:restriction base="xs:string">
          <xs:enumeration value="ISSUED"/>
          <xs:enumeration value="RED_FLUSHED"/>
          <xs:enumeration value="VOID"/>
        </xs:restriction>
      </xs:simpleType>
      <xs:complexType name="Invoice">
        <xs:sequence>
{fields}
        </xs:sequence>
      </xs:complexType>
      <xs:element name="GetInvoices">
        <xs:complexType><xs:sequence>
          <xs:element name="customerMobile" type="xs:string"/>
        </xs:sequence></xs:complexType>
      </xs:element>
      <xs:element name="GetInvoicesResponse">
        <xs:complexType><xs:sequence>
          <xs:element name="invoice" type="tns:Invoice" minOccurs="0" maxOccurs="unbounded"/>
        </xs:sequence></xs:complexType>
      </xs:element>
      <xs:element name="GetInvoice">
        <xs:complexType><xs:sequence>
          <xs:element name="invoiceNo" type="xs:string"/>
        </xs:sequence></xs:complexType>
      </xs:element>
      <xs:element name="GetInvoiceResponse">
        <xs:complexType><xs:sequence>
          <xs:element name="invoice" type="tns:Invoice"/>
        </xs:sequence></xs:complexType>
      </xs:element>
      <xs:element name="FinanceFault">
        <xs:complexType><xs:sequence>
          <xs:element name="code" type="xs:string"/>
          <xs:element name="message" type="xs:string"/>
        </xs:sequence></xs:complexType>
      </xs:element>
    </xs:schema>
  </wsdl:types>
{messages}
  <wsdl:message name="FinanceFault">
    <wsdl:part name="detail" element="tns:FinanceFault"/>
  </wsdl:message>
  <wsdl:portType name="InvoicePortType">
{port_ops}
  </wsdl:portType>
  <wsdl:binding name="InvoiceBinding" type="tns:InvoicePortType">
    <soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
{binding_ops}
  </wsdl:binding>
  <wsdl:service name="InvoiceService">
    <wsdl:port name="InvoicePort" binding="tns:InvoiceBinding">
      <soap:address location="{location}"/>
    </wsdl:port>
  </wsdl:service>
</wsdl:definitions>
"""

OPERATIONS = ("GetInvoices", "GetInvoice")


def _escape_attr(value: str) -> str:
    return (
        value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    )


def wsdl(location: str) -> str:
    """The WSDL document, with the SOAP endpoint at ``location`` (where it was fetched)."""
    fields = "\n".join(
        f'          <xs:element name="{name}" type="{kind}"{extra}/>'
        for name, kind, extra in _INVOICE_FIELDS
    )
    messages = "\n".join(
        f'  <wsdl:message name="{op}Request">\n'
        f'    <wsdl:part name="parameters" element="tns:{op}"/>\n  </wsdl:message>\n'
        f'  <wsdl:message name="{op}Response">\n'
        f'    <wsdl:part name="parameters" element="tns:{op}Response"/>\n  </wsdl:message>'
        for op in OPERATIONS
    )
    port_ops = "\n".join(
        f'    <wsdl:operation name="{op}">\n'
        f'      <wsdl:input message="tns:{op}Request"/>\n'
        f'      <wsdl:output message="tns:{op}Response"/>\n'
        f'      <wsdl:fault name="FinanceFault" message="tns:FinanceFault"/>\n'
        f"    </wsdl:operation>"
        for op in OPERATIONS
    )
    binding_ops = "\n".join(
        f'    <wsdl:operation name="{op}">\n'
        f'      <soap:operation soapAction="{NAMESPACE}/{op}" style="document"/>\n'
        f'      <wsdl:input><soap:body use="literal"/></wsdl:input>\n'
        f'      <wsdl:output><soap:body use="literal"/></wsdl:output>\n'
        f'      <wsdl:fault name="FinanceFault"><soap:fault name="FinanceFault" use="literal"/>'
        f"</wsdl:fault>\n    </wsdl:operation>"
        for op in OPERATIONS
    )
    return _TEMPLATE.format(
        ns=NAMESPACE,
        fields=fields,
        messages=messages,
        port_ops=port_ops,
        binding_ops=binding_ops,
        location=_escape_attr(location),
    )
