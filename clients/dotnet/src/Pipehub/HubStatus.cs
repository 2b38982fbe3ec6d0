// The hub's status report (protocol section 4.14): the JSON as the hub sent it, read into
// plain objects by a small reader of its own (the base class library has no JSON reader
// that every runtime ships), with typed access to what a program most often wants.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace Pipehub
{
    /// <summary>The answer to <see cref="HubClient.StatusAsync"/>.</summary>
    public sealed class HubStatus
    {
        internal HubStatus(string json)
        {
            Json = json;
            var root = JsonReader.Parse(json) as IDictionary<string, object>;
            if (root == null) throw new HubProtocolException("its status report is not a JSON object");
            Report = root;
            var clients = new List<HubStatusClient>();
            var list = Get("clients") as IList<object>;
            if (list != null)
                foreach (var c in list)
                    if (c is IDictionary<string, object> d) clients.Add(new HubStatusClient(d));
            Clients = clients;
        }

        /// <summary>The report as the hub sent it: JSON text for any JSON library.</summary>
        public string Json { get; }
        /// <summary>The report as objects: objects are dictionaries, arrays lists, numbers
        /// double (or long when whole), and true, false and null themselves.</summary>
        public IDictionary<string, object> Report { get; }
        /// <summary>Every connected client, by increasing ID.</summary>
        public IReadOnlyList<HubStatusClient> Clients { get; }

        /// <summary>A member by its dotted path, as the protocol names them
        /// (<c>"stats.broadcasts"</c>, <c>"hub.version"</c>); null if absent.</summary>
        public object Get(string path)
        {
            object at = Report;
            foreach (var key in path.Split('.'))
            {
                var d = at as IDictionary<string, object>;
                if (d == null || !d.TryGetValue(key, out at)) return null;
            }
            return at;
        }

        public string HubVersion { get { return Get("hub.version") as string; } }
        /// <summary>The hub instance, as 16 hex digits.</summary>
        public string Instance { get { return Get("hub.instance") as string; } }
        public long Broadcasts { get { return Number(Get("stats.broadcasts")); } }
        /// <summary>The client ID of the session that asked (this client).</summary>
        public long RequestedBy { get { return Number(Get("requested_by")); } }

        internal static long Number(object value)
        {
            if (value is long l) return l;
            if (value is double d) return (long)d;
            return 0;
        }
    }

    /// <summary>One connected client in a status report.</summary>
    public sealed class HubStatusClient
    {
        internal HubStatusClient(IDictionary<string, object> d)
        {
            object v;
            Id = HubStatus.Number(d.TryGetValue("id", out v) ? v : null);
            Name = d.TryGetValue("name", out v) ? v as string ?? "" : "";
            Role = d.TryGetValue("role", out v) ? v as string ?? "" : "";
            Queued = HubStatus.Number(d.TryGetValue("queued", out v) ? v : null);
            Missed = HubStatus.Number(d.TryGetValue("missed", out v) ? v : null);
            Stalled = d.TryGetValue("stalled", out v) && v is bool b && b;
        }

        public long Id { get; }
        public string Name { get; }
        /// <summary>listener, publisher or text.</summary>
        public string Role { get; }
        public long Queued { get; }
        /// <summary>Broadcasts this client missed because it fell behind.</summary>
        public long Missed { get; }
        public bool Stalled { get; }
    }

    /// <summary>A small, strict JSON reader (RFC 8259) into plain objects.</summary>
    internal sealed class JsonReader
    {
        readonly string s;
        int i;

        JsonReader(string s) { this.s = s; }

        public static object Parse(string text)
        {
            var r = new JsonReader(text);
            var value = r.Value();
            r.Space();
            if (r.i != text.Length) throw r.Fail("text after the value");
            return value;
        }

        HubProtocolException Fail(string what)
        {
            return new HubProtocolException("its status report is not valid JSON: " + what + " at offset " + i);
        }

        void Space()
        {
            while (i < s.Length && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
        }

        void Expect(char c)
        {
            Space();
            if (i >= s.Length || s[i] != c) throw Fail("expected '" + c + "'");
            i++;
        }

        object Value()
        {
            Space();
            if (i >= s.Length) throw Fail("unexpected end");
            char c = s[i];
            if (c == '{')
            {
                i++;
                var d = new Dictionary<string, object>();
                Space();
                if (i < s.Length && s[i] == '}') { i++; return d; }
                while (true)
                {
                    Space();
                    if (i >= s.Length || s[i] != '"') throw Fail("expected a member name");
                    var key = String();
                    Expect(':');
                    d[key] = Value();
                    Space();
                    if (i < s.Length && s[i] == ',') { i++; continue; }
                    Expect('}');
                    return d;
                }
            }
            if (c == '[')
            {
                i++;
                var list = new List<object>();
                Space();
                if (i < s.Length && s[i] == ']') { i++; return list; }
                while (true)
                {
                    list.Add(Value());
                    Space();
                    if (i < s.Length && s[i] == ',') { i++; continue; }
                    Expect(']');
                    return list;
                }
            }
            if (c == '"') return String();
            if (Word("true")) return true;
            if (Word("false")) return false;
            if (Word("null")) return null;
            return Number();
        }

        bool Word(string w)
        {
            if (string.CompareOrdinal(s, i, w, 0, w.Length) != 0) return false;
            i += w.Length;
            return true;
        }

        object Number()
        {
            int start = i;
            if (i < s.Length && s[i] == '-') i++;
            while (i < s.Length && (char.IsDigit(s[i]) || s[i] == '.' || s[i] == 'e' || s[i] == 'E' || s[i] == '+' || s[i] == '-')) i++;
            var text = s.Substring(start, i - start);
            long whole;
            if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out whole)) return whole;
            double d;
            if (text.Length > 0 && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out d)) return d;
            i = start;
            throw Fail("expected a value");
        }

        string String()
        {
            i++; // the opening quote
            var b = new StringBuilder();
            while (true)
            {
                if (i >= s.Length) throw Fail("unterminated string");
                char c = s[i++];
                if (c == '"') return b.ToString();
                if (c != '\\') { b.Append(c); continue; }
                if (i >= s.Length) throw Fail("unterminated escape");
                char e = s[i++];
                switch (e)
                {
                    case '"': b.Append('"'); break;
                    case '\\': b.Append('\\'); break;
                    case '/': b.Append('/'); break;
                    case 'b': b.Append('\b'); break;
                    case 'f': b.Append('\f'); break;
                    case 'n': b.Append('\n'); break;
                    case 'r': b.Append('\r'); break;
                    case 't': b.Append('\t'); break;
                    case 'u':
                        if (i + 4 > s.Length) throw Fail("short \\u escape");
                        b.Append((char)int.Parse(s.Substring(i, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                        i += 4;
                        break;
                    default: throw Fail("unknown escape \\" + e);
                }
            }
        }
    }
}
