// A .NET named-pipe client that talks back: connect for reading and writing, write one
// line at once, then print every line the server sends until it closes the pipe.
// Usage: InOut.exe [NAME [TEXT]]
using System;
using System.IO;
using System.IO.Pipes;

class InOut
{
    static void Main(string[] args)
    {
        string name = args.Length > 0 ? args[0] : "testpipe";
        string text = args.Length > 1 ? args[1] : "hello from .NET";
        using (var pipeClient = new NamedPipeClientStream(".", name, PipeDirection.InOut))
        {
            pipeClient.Connect(5000);
            var sw = new StreamWriter(pipeClient);
            sw.AutoFlush = true;
            sw.WriteLine(text);
            var sr = new StreamReader(pipeClient);
            string temp;
            while ((temp = sr.ReadLine()) != null)
            {
                Console.WriteLine(temp);
            }
        }
    }
}
