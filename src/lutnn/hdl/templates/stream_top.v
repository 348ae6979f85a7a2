module {{top}} (
  input  wire clk,
  input  wire rst,
  input  wire s_tvalid,
  output wire s_tready,
  input  wire [{{in_msb}}:0] s_tdata,
  input  wire s_tlast,
  output wire m_tvalid,
  input  wire m_tready,
  output wire [{{out_msb}}:0] m_tdata,
  output reg  tlast_error
);
  wire [{{px_msb}}:0] px0;  // the pixel's channel bits
{{encoder}}
  reg [{{pcount_msb}}:0] pcount;  // pixel index in the image, for the s_tlast check
  always @(posedge clk) begin
    if (rst) begin
      pcount <= 0;
      tlast_error <= 1'b0;
    end else if (s_tvalid & s_tready) begin
      pcount <= (pcount == {{pixels_last}}) ? 0 : pcount + 1'b1;
      if (s_tlast != (pcount == {{pixels_last}})) tlast_error <= 1'b1;
    end
  end
{{body}}
endmodule
